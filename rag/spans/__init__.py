"""Short answers: what a question asks for (`asks`), spaCy's tagging (`tagging`) and the entity
table filled at ingest (`entities`), the spans' features (`features`), candidate mining
(`candidates`), and names made whole (`names`). Nothing here retrieves or writes answer text."""
