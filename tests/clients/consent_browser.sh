#!/bin/sh
# $BROWSER for clients that open a browser to sign in (see consent_browser.mjs).
exec node "$(dirname "$0")/consent_browser.mjs" "$1"
