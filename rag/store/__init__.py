"""Where the index lives: the Chroma collection (`chroma`, with its HNSW check), the ingestion
ledger every writer keeps (`ledger`), the snapshot of what is indexed (`catalogue`), chunk records
read back by id (`records`), every path under the store folder (`layout`) and work run beside a
caller on a store (`aside`). Nothing here embeds, ranks or answers."""
