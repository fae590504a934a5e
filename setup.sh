#!/usr/bin/env bash
# Sets up avsep-mobile on a fresh machine: the speech synthesisers the data
# generator uses (Debian/Ubuntu; on macOS: `brew install espeak-ng`), then the
# package with its pinned stack (torch 2.13.0 CPU, numpy < 2.4, converters).
set -euo pipefail
cd "$(dirname "$0")"
# festvox-*: the training pool's festival voices; flite: the held-out voice family
VOICES="espeak-ng festival festvox-kdlpc16k festvox-italp16k festvox-itapc16k
  festvox-suopuhe-lj festvox-suopuhe-mv festvox-czech-dita festvox-czech-machac festvox-ca-ona-hts
  festvox-czech-ph festvox-czech-krb festvox-hi-nsk festvox-ru flite"
# recorded human speech (avsep_mobile/data/recorded.py): klettres-data's letters and syllables read by
# native speakers (GPL-2+), asterisk's telephone prompts read by four people at 16 kHz (CC-BY-SA/CC-BY 3.0);
# ktuberling-data and gcompris-qt-data are reserved for independent evaluation: never install them here
RECORDINGS="klettres-data asterisk-core-sounds-en-g722 asterisk-core-sounds-es-g722 asterisk-core-sounds-fr-g722
  asterisk-core-sounds-it-g722 asterisk-core-sounds-ru-g722"
# the Android sample's core module is compiled and unit-tested on the JVM in the tests:
# a Java 17 runtime, npm (for the Kotlin compiler below), junit4/hamcrest/org.json jars;
# libbcprov-java: BouncyCastle's lightweight Ed25519, which the Android app ships for signed bundles
APP_TOOLS="junit4 libhamcrest-java libandroid-json-java libbcprov-java"
command -v java >/dev/null 2>&1 || APP_TOOLS="$APP_TOOLS default-jre-headless"
command -v npm >/dev/null 2>&1 || APP_TOOLS="$APP_TOOLS npm"
# `avsep verify --arch arm64`: qemu-user runs the aarch64 runtimes; apt checks the
# arm64 package lists of the emulated userland against the Debian keyring
ARM64_TOOLS="qemu-user-static debian-archive-keyring"
# web_sample/ runs in Debian's Chromium, driven headless by PyPI's playwright (no browser download)
WEB_TOOLS="chromium"
if command -v apt-get >/dev/null 2>&1; then
  missing=$(for p in $VOICES $RECORDINGS $APP_TOOLS $ARM64_TOOLS $WEB_TOOLS; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done)
  if [ -n "$missing" ]; then
    SUDO=$([ "$(id -u)" = 0 ] && echo "" || echo sudo)
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
  fi
elif ! command -v espeak-ng >/dev/null 2>&1; then
  echo "note: espeak-ng not found; install it (brew install espeak-ng) to generate training data" >&2
fi
# [full]: torch, the converters, training and the tests beside the runtime (pyproject.toml)
python3 -m pip install -q -e ".[full]"
# the face detector and face mesh .tflite files ship only inside mediapipe 0.10.21;
# its own dependencies (numpy<2, protobuf 4, jax, opencv) would break the pinned
# stack, and only its model files are read, so it goes in without them
python3 -m pip install -q --no-deps "mediapipe==0.10.21"
# the Kotlin compiler (npm's kotlin-compiler runs on Java 17), cached outside the repo;
# parity_tests/app_cores.py finds it here (or at $AVSEP_KOTLIN_HOME)
KOTLIN_HOME="${AVSEP_KOTLIN_HOME:-$HOME/.cache/avsep/kotlin}"
if [ ! -x "$KOTLIN_HOME/node_modules/kotlin-compiler/bin/kotlinc" ]; then
  if command -v npm >/dev/null 2>&1; then
    mkdir -p "$KOTLIN_HOME"
    npm install --prefix "$KOTLIN_HOME" --no-audit --no-fund --silent "kotlin-compiler@~2.4.20" >/dev/null
  else
    echo "note: npm not found; install Node.js to compile the Android core in the tests" >&2
  fi
fi
# LiteRT.js for web_sample/ (npm @litertjs/core, pinned in web_sample/package.json, its WebAssembly
# builds inside) into web_sample/node_modules (gitignored), so any static server of web_sample/ serves it
if [ ! -f web_sample/node_modules/@litertjs/core/package.json ] && command -v npm >/dev/null 2>&1; then
  npm ci --prefix web_sample --no-audit --no-fund --silent >/dev/null
fi
# the emulated arm64 userland (Debian arm64 python3.11 + the aarch64 LiteRT and
# onnxruntime wheels), built once into ~/.cache/avsep/arm64 (or $AVSEP_ARM64_HOME)
python3 -m avsep_mobile.cli arm64-setup >/dev/null || echo "note: the arm64 userland was not built (above); \`avsep verify --arch arm64\` needs it" >&2
