"""The files of the flow, read and written without a model or a JVM: artifacts and their manifests, corpora, topics
and qrels, JsonVectorCollections, run files, pre-encoded topics."""
