#!/usr/bin/env python3
"""Dotfiles in the web root and the protective response headers.

Serves a temporary web root holding index.html and a `.env` file, then
asks for `/.env`, `/`, `/healthz` and an API path.

Result: the status of `/.env` (PROTOCOL.md: 404), and which responses carry
`X-Content-Type-Options: nosniff`, `Cache-Control: no-store` (API),
`Referrer-Policy` and a `Content-Security-Policy` with `frame-ancestors`
(the console page).
"""

import os
import shutil
import tempfile

import probelib as pl


def main():
    args = pl.parse_args(__doc__.splitlines()[0])
    root = tempfile.mkdtemp(prefix="livechat-probe-root-")
    try:
        with open(os.path.join(root, "index.html"), "w") as f:
            f.write("<!doctype html><title>probe</title>")
        with open(os.path.join(root, ".env"), "w") as f:
            f.write("SECRET=probe\n")
        with pl.Server(args.binary, ["--web-root", root]) as srv:
            env_status, _, env_body = pl.http(srv.port, "GET", "/.env")
            _, page, _ = pl.http(srv.port, "GET", "/")
            _, health, _ = pl.http(srv.port, "GET", "/healthz")
            _, api, _ = pl.http(srv.port, "GET", "/api/v1/conversations",
                                headers={"Authorization": "Bearer op"})
    finally:
        shutil.rmtree(root, ignore_errors=True)
    nosniff = sum(1 for h in (page, health, api) if h.get("x-content-type-options") == "nosniff")
    csp = page.get("content-security-policy", "")
    pl.result("http_headers",
              dotenv_status=env_status,
              dotenv_leaked=b"SECRET" in env_body,
              nosniff_of_3=nosniff,
              api_no_store="no-store" in api.get("cache-control", ""),
              console_referrer_policy=page.get("referrer-policy", "none"),
              console_frame_ancestors="frame-ancestors" in csp)


if __name__ == "__main__":
    pl.run("http_headers", main)
