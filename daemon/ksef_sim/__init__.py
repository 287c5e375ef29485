"""ksef-sim: a local KSeF 2.0 simulator that speaks the official wire protocol.

Same paths, payloads, status codes, crypto and limits as the official OpenAPI (open-api.json,
copied from CIRFMF/ksef-docs) so KSeF clients are tested against the protocol, not against
themselves. Start it with `ksef-sim --port 8700`; see README.md in this directory.
"""
