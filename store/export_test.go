package store

// SetScanBatch sets how many rows ScanSignals reads per query, so that
// tests cross many batches with few rows.
func SetScanBatch(s *Store, n int) { s.scanBatch = n }
