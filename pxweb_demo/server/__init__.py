"""Local PxWeb server (API v2 under /api/v2, v1 under /api/v1) serving a demo snapshot."""

from pxweb_demo.server.app import DemoServer, serve, start_server

__all__ = ["DemoServer", "serve", "start_server"]
