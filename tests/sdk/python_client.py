"""Evaluates cases with the official OpenFeature Python SDK and its OFREP provider.

Reads {"baseUrl", "token", "cases": [{"flag", "type", "default", "context"}]} on stdin and
prints one JSON line per case: {"value", "variant", "reason", "errorCode"}.
"""

import json
import sys

from openfeature import api
from openfeature.contrib.provider.ofrep import OFREPProvider
from openfeature.evaluation_context import EvaluationContext


def main() -> None:
    request = json.load(sys.stdin)
    headers = {"Authorization": f"Bearer {request['token']}"} if request.get("token") else {}
    api.set_provider(OFREPProvider(request["baseUrl"], headers_factory=lambda: headers))
    client = api.get_client()
    evaluate = {
        "boolean": client.get_boolean_details,
        "string": client.get_string_details,
        "number": client.get_float_details,
        "object": client.get_object_details,
    }
    for case in request["cases"]:
        attributes = dict(case["context"])
        targeting_key = attributes.pop("targeting_key", None)
        context = EvaluationContext(targeting_key=targeting_key, attributes=attributes)
        details = evaluate[case["type"]](case["flag"], case["default"], context)
        reason = getattr(details.reason, "value", details.reason)
        error = getattr(details.error_code, "value", details.error_code)
        print(json.dumps({"value": details.value, "variant": details.variant,
                          "reason": reason, "errorCode": error}))


if __name__ == "__main__":
    main()
