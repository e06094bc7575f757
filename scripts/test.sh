#!/usr/bin/env bash
# Every test: linters and type checkers of both languages, the JS tests, then pytest (browser tests included).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
echo "== ruff";        $BIN/ruff check transeasy_widget tests benchmarks hatch_build.py
echo "== mypy";        $BIN/mypy
echo "== tsc";         npm run --silent typecheck
echo "== vitest";      npm test --silent
echo "== pytest";      $BIN/pytest "$@"
