#!/usr/bin/python3
"""Parses a Prometheus text exposition from stdin with the real client's parser.

Prints one JSON object: {"families": {name: type}, "samples": [{"name",
"labels", "value"}]}. Values are strings ("1.0", "inf", "nan") so non-finite
ones survive JSON. Exits non-zero, with the parser's error, when the text
does not parse.
"""
import json
import sys

from prometheus_client.parser import text_string_to_metric_families


def main():
    families = {}
    samples = []
    for family in text_string_to_metric_families(sys.stdin.read()):
        families[family.name] = family.type
        for s in family.samples:
            samples.append({"name": s.name, "labels": dict(s.labels),
                            "value": repr(float(s.value))})
    json.dump({"families": families, "samples": samples}, sys.stdout)


if __name__ == "__main__":
    main()
