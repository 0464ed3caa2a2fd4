"""What every page's template knows beyond the request: the organisation's branding."""

from . import branding as branding_module


def branding(request):
    return {"branding": branding_module.current()}
