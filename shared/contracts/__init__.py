"""Wire contracts: one module per stream, key or document, each with pure encode/decode.

`schemas/` holds the JSON Schemas (draft 2020-12) of the state documents nav.json and
kpis_v7.json: the contract in machine-readable form, shipped with the package.
"""

from pathlib import Path

SCHEMAS_DIR = Path(__file__).resolve().parent / "schemas"
