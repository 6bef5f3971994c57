"""``python -m ghbackup.records [FOLDER]``: write the records' JSON Schemas (docs/schemas)."""

import sys
from pathlib import Path

from ghbackup.records.schemas import write_schemas

for written in write_schemas(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/schemas")):
    print(written)
