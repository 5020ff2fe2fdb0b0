"""The compact format of the public REST API: key maps, codec, field selection, HTTP."""
