"""Normalise: how one deployment's records become the ledger's `NormalisedTask`.

- `spec`: a mapping file (``mappings/*.toml``) validated into frozen typed models
  (`load_mapping`, `MappingSpec`);
- `normalise`: a raw record turned into a `NormalisedTask`, bounded, or a `BadRecord`;
- `converters`: the converters a mapping names (dates, instants, texts, numbers, ...);
- `files`: where bare mapping names (``idesk``, ``idesk6``) are found.
"""
