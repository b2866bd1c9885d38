"""Writes the OpenAPI document that tests/fuzz.rs fuzzes hookd with: Svix's open-source
server's document (the 43 operations hookd serves), with the answers Svix itself documents or
its SDKs rely on added where that document leaves them out. Each addition says why; nothing
else is changed, so every answer hookd gives must fit Svix's own description.

usage: svix_spec.py <svix-oss-openapi.json> <svix-sdk-openapi.json> <out.json>
"""

import json
import re
import sys

oss_path, sdk_path, out_path = sys.argv[1:4]
oss = json.load(open(oss_path))
sdk = json.load(open(sdk_path))


def norm(path):
    return re.sub(r"\{[^}]+\}", "{}", path)


sdk_ops = {(norm(p), m): op for p, ops in sdk["paths"].items() for m, op in ops.items() if isinstance(op, dict)}

for path, ops in oss["paths"].items():
    for method, op in ops.items():
        if not isinstance(op, dict) or "responses" not in op:
            continue
        # 1. Status codes Svix's SDK document gives the same operation (the open-source one
        #    omits, e.g., the 204 of DELETE …/msg/{msg_id}/content, the 202 of send-example,
        #    and logout's 401/403/422). Their bodies are not checked.
        twin = sdk_ops.get((norm(path), method))
        for code in (twin or {}).get("responses", {}):
            op["responses"].setdefault(code, {"description": "documented by Svix's SDK document"})

# 2. HEAD on the health routes answers as GET does (the document lists no 2xx for HEAD).
for path in ["/api/v1/health", "/api/v1/health/ping"]:
    head = oss["paths"][path].get("head")
    if head is not None:
        head["responses"]["204"] = {"description": "as GET"}

# 3. Rotating an endpoint's secret: Svix's Rust SDK (2.9) reads the new key from a 200 answer
#    ({"key": …}); the documents say 204.
rotate = oss["paths"]["/api/v1/app/{app_id}/endpoint/{endpoint_id}/secret/rotate"]["post"]
rotate["responses"]["200"] = {
    "description": "the new key, as Svix's Rust SDK reads it",
    "content": {"application/json": {"schema": {"type": "object", "required": ["key"], "properties": {"key": {"type": "string"}}}}},
}

# 4. Path parameters the document forgets to declare (GET, PATCH and DELETE /app/{app_id} and
#    GET /app/{app_id}/msg use {app_id} without declaring it): declared as its other
#    operations on the same path do, or else as Svix's SDK document does.
for path, ops in oss["paths"].items():
    names = re.findall(r"\{([^}]+)\}", path)
    for method, op in ops.items():
        if not isinstance(op, dict):
            continue
        declared = {p.get("name") for p in op.get("parameters", []) if p.get("in") == "path"}
        for name in names:
            if name in declared:
                continue
            donors = [o for o in ops.values() if isinstance(o, dict)]
            twin = sdk_ops.get((norm(path), method))
            donors.append(twin or {})
            found = next(
                (p for o in donors for p in o.get("parameters", []) if p.get("in") == "path" and p.get("name") == name),
                None,
            )
            if found is None:
                found = {"in": "path", "name": name, "required": True, "schema": {"type": "string"}}
            op.setdefault("parameters", []).append(found)

json.dump(oss, open(out_path, "w"), indent=1)
