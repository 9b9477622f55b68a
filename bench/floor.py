"""The floor of a deploy step in Python: POST a ready body with urllib, write the run_id output.

No validation, no retries, no redaction, no summary: the least any Python step must spend.
bench/run.py gives it the exact body our entrypoint sent (FLOOR_BODY) and the URL with the
token (FLOOR_URL).
"""

import json
import os
import urllib.request

request = urllib.request.Request(
    os.environ["FLOOR_URL"],
    data=os.environ["FLOOR_BODY"].encode("utf-8"),
    headers={"Content-Type": "application/json; charset=utf-8"},
)
with urllib.request.urlopen(request, timeout=30) as response:
    run_id = json.load(response)["run_id"]
with open(os.environ["GITHUB_OUTPUT"], "a", encoding="utf-8") as output:
    output.write(f"run_id={run_id}\n")
