#!/usr/bin/env bash
# Fuzzes the HTTP API with Schemathesis against the whole platform as `npm start` runs it.
#
#   bash test/drills/fuzz-api.sh            # about 2.5 minutes on 2 cores once the venv exists
#
# What it does: makes (once) a Python virtualenv under .cache/venv-schemathesis with a pinned
# Schemathesis from PyPI, starts `npm start` in its own process group on throwaway state
# (LOCAL_STACK_DIR=$(mktemp -d)), waits for /healthz, seeds a template, a file and two campaigns
# whose ids the fuzzer mixes into what it generates, runs Schemathesis on /openapi.json with
# the dev tenant's API key, then stops the platform the way Ctrl-C does and makes sure nothing
# it started (node, java, temporal) is left. Exits with Schemathesis' code: non-zero when it
# found a failure (a 5xx, or a response the OpenAPI document does not describe).
#
# Knobs (environment):
#   FUZZ_MAX_EXAMPLES   test cases per operation and phase (default 40)
#   FUZZ_CHECKS         Schemathesis checks (default: no 5xx, and every response's status,
#                       content type and body schema as documented)
#   FUZZ_SEED           a seed to replay a run
#   FUZZ_REPORT_DIR     where the JUnit report and the platform log go (default .cache/fuzz-api)
#   PORT                API port (default 3900, or a free port if 3900 is taken)
#
# `npm start` uses the well-known local ports (Temporal 7233/8233, DynamoDB 8000, S3 4569,
# SES 8005); the script refuses to run while something else listens on them.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"

SCHEMATHESIS_VERSION=4.32.5
VENV="$ROOT/.cache/venv-schemathesis"
MAX_EXAMPLES=${FUZZ_MAX_EXAMPLES:-40}
CHECKS=${FUZZ_CHECKS:-not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance}
REPORT_DIR=${FUZZ_REPORT_DIR:-$ROOT/.cache/fuzz-api}
STACK_PORTS=(7233 8233 8000 4569 8005)

log() { printf '[fuzz-api] %s\n' "$*" >&2; }

port_in_use() {
  # bash's /dev/tcp: a successful connect means something listens there.
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# --- 1. Schemathesis in its own virtualenv (Python >= 3.10) --------------------------------
find_python() {
  local candidate
  for candidate in python3.11 python3.12 python3.13 python3.10 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q "version $SCHEMATHESIS_VERSION\$"; then
  PYTHON=$(find_python) || { log 'needs Python 3.10 or newer (python3.11 is what this was written with)'; exit 2; }
  log "installing schemathesis $SCHEMATHESIS_VERSION into $VENV (with $($PYTHON --version))"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi
"$VENV/bin/schemathesis" --version >&2

# --- 2. The platform, on throwaway state, in its own process group ----------------------------
for p in "${STACK_PORTS[@]}"; do
  if port_in_use "$p"; then
    log "port $p is in use (is another 'npm start' running?); the local stack needs it"
    exit 2
  fi
done
PORT=${PORT:-3900}
if port_in_use "$PORT"; then
  PORT=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
fi
export PORT

LOCAL_STACK_DIR=$(mktemp -d "${TMPDIR:-/tmp}/email-engine-fuzz-XXXXXX")
export LOCAL_STACK_DIR
mkdir -p "$REPORT_DIR"
PLATFORM_LOG="$REPORT_DIR/platform.log"
: >"$PLATFORM_LOG"

# The dev tenant's key is generated into LOCAL_STACK_DIR, never taken from the caller's shell.
unset DEV_API_KEY DEV_WEBHOOK_SECRET TEMPORAL_ADDRESS DYNAMODB_ENDPOINT S3_ENDPOINT SES_ENDPOINT AWS_ENDPOINT_MODE APP_ENV

PLATFORM_PID=
descendants() {
  # Every process below $1, depth first (ps only: works without pstree).
  local child
  for child in $(ps -o pid= --ppid "$1" 2>/dev/null); do
    echo "$child"
    descendants "$child"
  done
}

stop_platform() {
  [ -n "$PLATFORM_PID" ] || return 0
  local pid=$PLATFORM_PID
  PLATFORM_PID=
  # Remember the whole tree first: anything that left the process group is still found.
  local tree
  tree="$pid $(descendants "$pid" | tr '\n' ' ')"
  log "stopping the platform (process group $pid)"
  # What Ctrl-C does: SIGINT to the group; the launcher then stops worker, API and stack in order.
  kill -INT -- "-$pid" 2>/dev/null || true
  local waited=0
  while kill -0 -- "-$pid" 2>/dev/null && [ "$waited" -lt 60 ]; do
    sleep 1
    waited=$((waited + 1))
  done
  if kill -0 -- "-$pid" 2>/dev/null; then
    log "still running after ${waited}s: SIGKILL to the group"
    kill -KILL -- "-$pid" 2>/dev/null || true
    sleep 1
  fi
  local left=() p
  for p in $tree; do
    if kill -0 "$p" 2>/dev/null; then left+=("$p"); fi
  done
  if [ "${#left[@]}" -gt 0 ]; then
    log "killing leftovers: $(ps -o pid=,comm= -p "$(IFS=,; echo "${left[*]}")" | tr '\n' ';')"
    kill -KILL "${left[@]}" 2>/dev/null || true
    sleep 1
  fi
  # Nothing may still hold our state directory or the stack's ports.
  local stray
  stray=$(pgrep -f -- "$LOCAL_STACK_DIR" || true)
  if [ -n "$stray" ]; then
    log "processes still using $LOCAL_STACK_DIR: $stray; killing them"
    # shellcheck disable=SC2086
    kill -KILL $stray 2>/dev/null || true
  fi
  for p in "${STACK_PORTS[@]}" "$PORT"; do
    if port_in_use "$p"; then log "warning: port $p still answers after the stop"; fi
  done
}

cleanup() {
  local code=$?
  stop_platform
  [ -n "${LOCAL_STACK_DIR:-}" ] && rm -rf "$LOCAL_STACK_DIR"
  exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "starting the platform: npm start (API on port $PORT, state in $LOCAL_STACK_DIR, log in $PLATFORM_LOG)"
setsid npm start </dev/null >>"$PLATFORM_LOG" 2>&1 &
PLATFORM_PID=$!

API="http://127.0.0.1:$PORT"
deadline=$((SECONDS + 600)) # the first run on a machine builds the Temporal CLI (about 3 minutes)
until [ "$(curl -s -o /dev/null -w '%{http_code}' "$API/healthz" 2>/dev/null)" = 200 ]; do
  if ! kill -0 "$PLATFORM_PID" 2>/dev/null; then
    log 'the platform exited before it was healthy; its log ends with:'
    tail -n 40 "$PLATFORM_LOG" >&2
    exit 1
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    log 'the platform did not become healthy in 10 minutes; its log ends with:'
    tail -n 40 "$PLATFORM_LOG" >&2
    exit 1
  fi
  sleep 1
done
API_KEY=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).apiKey)' "$LOCAL_STACK_DIR/dev-tenant.json")
log "platform healthy at $API"

# --- 3. Real data for the fuzzer to find -------------------------------------------------------
# Random ids only ever reach the 404 branch. A confirmed template, an uploaded CSV, a sent and a
# scheduled campaign, their messages and a suppressed address are offered to Schemathesis as
# dictionaries: half of the generated ids are real ones, so status, messages, cursors, control
# requests and campaign starts run their whole code path under fuzzed query strings and bodies.
FUZZ_CONFIG="$REPORT_DIR/schemathesis.toml"
API="$API" API_KEY="$API_KEY" node - >"$FUZZ_CONFIG" <<'NODE'
const { API, API_KEY } = process.env;
const call = async (method, path, body) => {
  const res = await fetch(API + path, {
    method,
    headers: { 'x-api-key': API_KEY, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : {};
};
const put = async (target, content) => {
  const res = await fetch(target.upload_url, { method: 'PUT', headers: target.headers, body: content });
  if (!res.ok) throw new Error(`upload: ${res.status}`);
};
(async () => {
  const template = await call('POST', '/api/v1/templates/presigned-url', { name: 'fuzz', subject: 'Hi {{ first_name }}', from: 'sender@example.com' });
  await put(template, '<p>Hello {{ first_name }}</p>');
  await call('POST', `/api/v1/templates/${template.template_id}/confirm`);
  const file = await call('POST', '/api/v1/files/presigned-url', { file_name: 'fuzz.csv', content_type: 'text/csv' });
  await put(file, 'email,first_name\nsuccess@simulator.amazonses.com,Ada\nnot-an-address,Bob\nbounce@simulator.amazonses.com,Cy\n');
  const sent = await call('POST', '/api/v1/campaigns', { template_id: template.template_id, file_id: file.file_id });
  const sendAt = new Date(Date.now() + 30 * 24 * 3600 * 1000).toISOString();
  const scheduled = await call('POST', '/api/v1/campaigns', { template_id: template.template_id, file_id: file.file_id, schedule: { send_at: sendAt } });
  const deadline = Date.now() + 120_000;
  let status;
  do {
    await new Promise((r) => setTimeout(r, 500));
    status = (await call('GET', `/api/v1/campaigns/${sent.transaction_id}/status`)).status;
  } while (!['SENT', 'COMPLETED', 'FAILED'].includes(status) && Date.now() < deadline);
  const messages = (await call('GET', `/api/v1/campaigns/${sent.transaction_id}/messages`)).items.map((m) => m.message_id);
  await call('PUT', '/api/v1/suppressions/fuzz@example.com', { reason: 'fuzz seed' });
  const list = (values) => `values = ${JSON.stringify(values)}`;
  console.error(`[fuzz-api] seeded: template ${template.template_id}, file ${file.file_id}, campaigns ${sent.transaction_id} (${status}) and ${scheduled.transaction_id}`);
  console.log(
    [
      '# Written by test/drills/fuzz-api.sh: ids of real data for the fuzzer.',
      '[dictionaries.campaigns]', list([sent.transaction_id, scheduled.transaction_id]),
      '[dictionaries.templates]', list([template.template_id]),
      '[dictionaries.files]', list([file.file_id]),
      '[dictionaries.messages]', list(messages),
      '[dictionaries.emails]', list(['fuzz@example.com']),
      '[parameters]',
      '"path.id" = { dictionary = "campaigns", probability = 0.5 }',
      '"path.template_id" = { dictionary = "templates", probability = 0.5 }',
      '"path.message_id" = { dictionary = "messages", probability = 0.5 }',
      '"path.email" = { dictionary = "emails", probability = 0.5 }',
      '"body.template_id" = { dictionary = "templates", probability = 0.5 }',
      '"body.file_id" = { dictionary = "files", probability = 0.5 }',
      '',
    ].join('\n'),
  );
})().catch((error) => {
  console.error(`[fuzz-api] seeding failed: ${error.message}`);
  process.exit(1);
});
NODE

# --- 4. Schemathesis --------------------------------------------------------------------------
args=(
  --config-file "$FUZZ_CONFIG"
  run "$API/openapi.json"
  --checks "$CHECKS"
  --header "X-API-Key: $API_KEY"
  --phases examples,coverage,fuzzing
  --max-examples "$MAX_EXAMPLES"
  --workers 1
  --request-timeout 30
  --generation-database none
  --output-sanitize true
  --output-truncate true
  --no-color
  --report junit
  --report-dir "$REPORT_DIR"
)
if [ -n "${FUZZ_SEED:-}" ]; then args+=(--seed "$FUZZ_SEED"); fi

set +e
# From the report directory: Schemathesis keeps its cache (.schemathesis/) in the working directory.
(cd "$REPORT_DIR" && "$VENV/bin/schemathesis" "${args[@]}")
status=$?
set -e
# What the fuzzed requests did to the worker shows only in its log.
errors=$(grep -c -E '"level":"error"|\[ERROR\]' "$PLATFORM_LOG" || true)
if [ "$errors" -gt 0 ]; then
  log "the platform logged $errors error line(s) during the run (see $PLATFORM_LOG):"
  grep -E '"level":"error"|\[ERROR\]' "$PLATFORM_LOG" | cut -c1-400 | sort | uniq -c | sort -rn | head -n 20 >&2
fi
if [ "$status" -ne 0 ]; then
  log "schemathesis found failures (exit $status); JUnit report and platform log in $REPORT_DIR"
else
  log 'schemathesis found no failures'
fi
exit "$status"
