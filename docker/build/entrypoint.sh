#!/bin/sh
# Replaces the base image's entrypoint (the DLC's wraps commands in `bash -m` + eval) so that
# `docker run IMAGE train|serve` runs exactly our console script, exec'ed so it is PID 1 and gets SIGTERM.
exec "$@"
