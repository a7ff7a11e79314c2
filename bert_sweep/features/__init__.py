"""SQuAD examples → fixed-length BERT features with the MLPerf reference windowing."""
