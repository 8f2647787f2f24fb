"""Prints template.yaml as CloudFormation sees it after the SAM transform (the translator ships
with cfn-lint in .local/tools-venv). Used by tests/it/template.rs; no AWS access."""
import json
import os
import sys

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
from samtranslator.translator.transform import transform  # noqa: E402
from samtranslator.yaml_helper import yaml_parse  # noqa: E402


class NoManagedPolicies:
    def load(self):
        return {}


template = yaml_parse(open(sys.argv[1]).read())
# As `sam package` leaves it: code in S3.
for resource in template.get("Resources", {}).values():
    if resource.get("Type") == "AWS::Serverless::Function":
        resource["Properties"]["CodeUri"] = "s3://bucket/code.zip"
params = dict(a.split("=", 1) for a in sys.argv[2:])
json.dump(transform(template, params, NoManagedPolicies()), sys.stdout)
