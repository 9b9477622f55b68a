"""Roll out a WeChat CloudBase Run service version through updateCloudbaseServiceVersion."""

__version__ = "1.0.0"

API_PATH = "/componenttcb/rollupdatecloudbaserunserverversion"
TOKEN_PATH = "/cgi-bin/component/api_component_token"  # noqa: S105 (a path)
DEFAULT_API_BASE_URL = "https://api.weixin.qq.com"
