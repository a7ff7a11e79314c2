"""Models, vocab and datasets: official downloads (checksums, cache, mirrors) and resolution."""
