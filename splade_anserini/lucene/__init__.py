"""Everything that runs in the JVM: Java set-up, Anserini's indexer, Lucene readers, the impact searcher, Pyserini's
query-encoder interface and the BM25 baseline. Nothing outside this package starts Java."""
