"""A GIT_ASKPASS program for tests: answers git's prompts from STANDIN_TOKEN."""

import os
import sys

prompt = sys.argv[1] if len(sys.argv) > 1 else ""
print("x-access-token" if prompt.lower().startswith("username") else os.environ["STANDIN_TOKEN"])
