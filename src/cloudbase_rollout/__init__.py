"""Roll out a WeChat CloudBase Run service version through updateCloudbaseServiceVersion."""

__version__ = "1.1.0"

DEFAULT_API_BASE_URL = "https://api.weixin.qq.com"
#: updateCloudbaseServiceVersion (docs/spec/updateCloudbaseServiceVersion.zh.md).
API_PATH = "/componenttcb/rollupdatecloudbaserunserverversion"
#: The neighbours (docs/spec/NEIGHBOURS.md): give a version all traffic, list versions, read one.
RELEASE_PATH = "/componenttcb/releasecloudbaserunversion"
VERSION_LIST_PATH = "/componenttcb/getcsversionlist"
VERSION_DETAIL_PATH = "/componenttcb/getcsversiondetail"
TOKEN_PATH = "/cgi-bin/component/api_component_token"  # noqa: S105 (a path)
#: Finding a fleet (docs/spec/FLEET.md): the platform's Cloud Run environments, those shared with appids.
CLOUDRUN_ENVS_PATH = "/componenttcb/describecloudbaserunenvs"
BATCH_ENV_ID_PATH = "/componenttcb/batchgetenvid"
