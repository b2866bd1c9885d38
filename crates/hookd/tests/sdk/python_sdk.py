"""Drives hookd with Svix's official Python SDK (`svix` from PyPI), unmodified but for the
server URL. Run by tests/sdks.rs against a fresh node: HOOKD_URL, HOOKD_TOKEN and
RECEIVER_URL (a real HTTP server that answers 200 to everything but paths under /fail, which
answer 500). Every check is an assert; the last line printed is "ok <checks>"; the Rust side
then checks what the receiver got.
"""

import os
import time
from datetime import datetime, timedelta, timezone

from svix.api import (
    ApplicationListOptions,
    EndpointGetStatsOptions,
    EndpointListOptions,
    EventTypeDeleteOptions,
    EventTypeListOptions,
    MessageAttemptListAttemptedMessagesOptions,
    MessageAttemptListByEndpointOptions,
    MessageAttemptListByMsgOptions,
    MessageListOptions,
    Svix,
    SvixOptions,
)
from svix.api.message import message_in_raw
from svix.exceptions import HttpError, HTTPValidationError
from svix.models import (
    ApplicationIn,
    EndpointIn,
    EventExampleIn,
    EventTypeIn,
    MessageIn,
    MessageStatus,
    Ordering,
    StatusCodeClass,
)

svix = Svix(os.environ["HOOKD_TOKEN"], SvixOptions(server_url=os.environ["HOOKD_URL"]))
receiver = os.environ["RECEIVER_URL"]
checks = 0


def check(condition, what):
    global checks
    assert condition, what
    checks += 1


def eventually(what, probe, timeout=20.0):
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


svix.health.get()

# Applications, in both orders.
for name in ["py-first", "py-second"]:
    svix.application.create(ApplicationIn(name=name, uid=name))
asc = svix.application.list(ApplicationListOptions(order=Ordering.ASCENDING))
desc = svix.application.list(ApplicationListOptions(order=Ordering.DESCENDING))
check([a.uid for a in asc.data] == ["py-first", "py-second"], asc)
check([a.uid for a in desc.data] == ["py-second", "py-first"], desc)
app = "py-first"

# Event types: schemas only on request; expunge deletes.
schemas = {"1": {"type": "object", "examples": [{"order": 1}, {"order": 2}]}}
svix.event_type.create(EventTypeIn(name="order.paid", description="paid", schemas=schemas))
svix.event_type.create(EventTypeIn(name="order.gone", description="gone"))
listed = svix.event_type.list(EventTypeListOptions(with_content=True))
check([t.schemas for t in listed.data if t.name == "order.paid"] == [schemas], listed)
listed = svix.event_type.list(EventTypeListOptions(order=Ordering.DESCENDING))
check([t.name for t in listed.data] == ["order.paid", "order.gone"], listed)
check(all(t.schemas is None for t in listed.data), listed)
svix.event_type.delete("order.gone", EventTypeDeleteOptions(expunge=True))
try:
    svix.event_type.get("order.gone")
    check(False, "an expunged event type is gone")
except HttpError as e:
    check(e.status_code == 404, e)

# Endpoints: one that answers, one that fails.
ok = svix.endpoint.create(app, EndpointIn(url=f"{receiver}/ok", uid="ok"))
bad = svix.endpoint.create(app, EndpointIn(url=f"{receiver}/fail", uid="bad", channels=["blue"]))
eps = svix.endpoint.list(app, EndpointListOptions(order=Ordering.ASCENDING))
check([e.uid for e in eps.data] == ["ok", "bad"], eps)

# Messages with tags and channels, and a raw one.
first = svix.message.create(
    app, MessageIn(event_type="order.paid", payload={"n": 1}, tags=["team/a"], channels=["blue"])
)
second = svix.message.create(app, MessageIn(event_type="order.other", payload={"n": 2}, tags=["team_b"]))
check(first.tags == ["team/a"], first)
raw = svix.message.create(app, message_in_raw("order.xml", "<n>3</n>", "application/xml"))
check(raw.payload == {}, raw)
tagged = svix.message.list(app, MessageListOptions(tag="team/a"))
check([m.id for m in tagged.data] == [first.id], tagged)


def attempts(endpoint, **options):
    page = svix.message_attempt.list_by_endpoint(app, endpoint, MessageAttemptListByEndpointOptions(**options))
    return page.data


eventually("the three messages attempted to ok", lambda: len(attempts(ok.id)) >= 3)
eventually("the blue message attempted to bad", lambda: len(attempts(bad.id)) >= 1)

# Attempt filters, each on its own and combined.
check({a.msg_id for a in attempts(ok.id, status=MessageStatus.SUCCESS)} == {first.id, second.id, raw.id}, "success")
check(attempts(ok.id, status=MessageStatus.FAIL) == [], "no failure on ok")
check({a.msg_id for a in attempts(bad.id, status_code_class=StatusCodeClass.CODE5XX)} == {first.id}, "5xx")
check(attempts(bad.id, status_code_class=StatusCodeClass.CODE2XX) == [], "no 2xx on bad")
check({a.msg_id for a in attempts(ok.id, channel="blue")} == {first.id}, "channel")
check({a.msg_id for a in attempts(ok.id, tag="team_b")} == {second.id}, "tag")
check({a.msg_id for a in attempts(ok.id, event_types=["order.other", "order.xml"])} == {second.id, raw.id}, "types")
check(attempts(ok.id, tag="team/a", event_types=["order.other"]) == [], "combined")
later = datetime.now(timezone.utc) + timedelta(hours=1)
check(attempts(ok.id, after=later) == [], "after")
check(len(attempts(ok.id, before=later)) >= 3, "before")
with_msg = attempts(ok.id, with_msg=True, with_content=False)
check(all(a.msg is not None and a.msg.payload == {} for a in with_msg), "with_msg, never the payload")
check(all(a.response == "" for a in with_msg), "with_content=false")
check(attempts(ok.id, with_content=True)[0].response != "", "with_content=true")
by_msg = svix.message_attempt.list_by_msg(app, first.id, MessageAttemptListByMsgOptions(endpoint_id=bad.id))
check({a.endpoint_id for a in by_msg.data} == {bad.id}, by_msg)
by_msg = svix.message_attempt.list_by_msg(app, first.id, MessageAttemptListByMsgOptions(status=MessageStatus.SUCCESS))
check({a.endpoint_id for a in by_msg.data} == {ok.id}, by_msg)

# An endpoint's messages, with their delivery's state.
delivered = svix.message_attempt.list_attempted_messages(
    app, ok.id, MessageAttemptListAttemptedMessagesOptions(with_content=True, event_types=["order.paid"])
)
check([(m.id, m.payload, m.status) for m in delivered.data] == [(first.id, {"n": 1}, MessageStatus.SUCCESS)], delivered)

# Stats over a time range.
stats = svix.endpoint.get_stats(app, ok.id, EndpointGetStatsOptions(since=later))
check((stats.success, stats.fail) == (0, 0), stats)
stats = svix.endpoint.get_stats(app, ok.id, EndpointGetStatsOptions(until=later))
check(stats.success == 3, stats)

# Send an example: the schema's second example, to ok alone.
sent = svix.endpoint.send_example(app, ok.id, EventExampleIn(event_type="order.paid", example_index=1))
check(sent.payload == {"order": 2}, sent)

# Expunge a payload, and an attempt's response.
svix.message.expunge_content(app, second.id)
check(svix.message.get(app, second.id).payload == {}, "expunged")
attempt = attempts(ok.id, tag="team/a")[0]
svix.message_attempt.expunge_content(app, first.id, attempt.id)
check(svix.message_attempt.get(app, first.id, attempt.id).response == "", "attempt expunged")

# A filter hookd cannot honour is refused, never ignored.
try:
    attempts(ok.id, channel="not valid!")
    check(False, "a malformed channel is refused")
except HTTPValidationError as e:
    check(e.status_code == 422, e)

# Operational-webhook endpoints through Svix's SDK routes.
from svix.models import OperationalWebhookEndpointIn, OperationalWebhookEndpointUpsertIn

op = svix.operational_webhook.endpoint.create(
    OperationalWebhookEndpointIn(url=f"{receiver}/ops", event_types=["endpoint.created"])
)
check([e.id for e in svix.operational_webhook.endpoint.list().data] == [op.id], "operational list")
op = svix.operational_webhook.endpoint.upsert(op.id, OperationalWebhookEndpointUpsertIn(url=f"{receiver}/ops2"))
check(op.url == f"{receiver}/ops2", op)
check(svix.operational_webhook.endpoint.get_secret(op.id).key.startswith("whsec_"), "operational secret")
svix.operational_webhook.endpoint.delete(op.id)
check(svix.operational_webhook.endpoint.list().data == [], "operational endpoint deleted")

# Sources through the SDK's ingest calls (Svix's Ingest API), then a webhook signed as GitHub
# signs it, posted to the source's URL: delivered to the source's endpoint (checked on the
# Rust side).
import hashlib
import hmac
import urllib.request

from svix.models import (
    GithubConfig,
    IngestEndpointHeadersIn,
    IngestEndpointIn,
    IngestEndpointSecretIn,
    IngestEndpointUpsertIn,
    IngestSourceIn,
)

source = svix.ingest.source.create(
    IngestSourceIn(name="GitHub", uid="gh", type="github", config=GithubConfig(secret="gh-secret"))
)
check(source.id.startswith("src_") and "/in/" in source.ingest_url, source)
check(svix.ingest.source.get("gh").id == source.id, "source by uid")
check([s.id for s in svix.ingest.source.list().data] == [source.id], "source list")
source = svix.ingest.source.upsert(
    source.id, IngestSourceIn(name="GitHub org", type="github", config=GithubConfig(secret="gh-secret"))
)
check(source.name == "GitHub org", source)
rotated = svix.ingest.source.rotate_token(source.id)
check(rotated.ingest_url != source.ingest_url, "a new URL")
ingest_url = rotated.ingest_url

ep = svix.ingest.endpoint.create(source.id, IngestEndpointIn(url=f"{receiver}/ingested", uid="app"))
check(svix.ingest.endpoint.get(source.id, "app").id == ep.id, "source endpoint by uid")
check([e.id for e in svix.ingest.endpoint.list(source.id).data] == [ep.id], "source endpoint list")
ep = svix.ingest.endpoint.upsert(source.id, ep.id, IngestEndpointUpsertIn(url=f"{receiver}/ingested", description="app"))
check(ep.description == "app", ep)
before = svix.ingest.endpoint.get_secret(source.id, ep.id).key
svix.ingest.endpoint.rotate_secret(source.id, ep.id, IngestEndpointSecretIn())
check(svix.ingest.endpoint.get_secret(source.id, ep.id).key != before, "secret rotated")
svix.ingest.endpoint.set_headers(source.id, ep.id, IngestEndpointHeadersIn(headers={"X-Team": "core"}))
check(svix.ingest.endpoint.get_headers(source.id, ep.id).headers == {"X-Team": "core"}, "source endpoint headers")

body = b'{"ref":"refs/heads/main"}'
signature = "sha256=" + hmac.new(b"gh-secret", body, hashlib.sha256).hexdigest()
request = urllib.request.Request(
    ingest_url + "/push",
    data=body,
    method="POST",
    headers={
        "content-type": "application/json",
        "x-github-event": "push",
        "x-github-delivery": "sdk-1",
        "x-hub-signature-256": signature,
    },
)
with urllib.request.urlopen(request) as answer:
    check(answer.status == 200, answer.status)

spare = svix.ingest.source.create(IngestSourceIn(name="Spare", type="generic-webhook"))
svix.ingest.source.delete(spare.id)
check([s.id for s in svix.ingest.source.list().data] == [source.id], "source deleted")

print("ok", checks)
