package normalize

import (
	"bytes"
	"encoding/json"
	"time"
)

// Piece is a record that is not JSON on its own: possibly a piece of an
// event that a line-oriented producer cut into several records (kcat makes
// every input line a record and spreads records without a key over
// partitions). Pieces of one partition are joined in offset order.
type Piece struct {
	Partition int32
	Offset    int64
	Time      time.Time
	Value     []byte
}

// Assemble looks for pieces among pool that, joined with newlines in some
// order, make a whole JSON value, starting with a piece that opens one
// (see Incomplete). Pieces of one partition keep their offset order, and
// only pieces within window of each other's times are joined. It returns
// the joined record and the indexes of the pieces used, or nil.
func Assemble(pool []Piece, window time.Duration) ([]byte, []int) {
	for s := range pool {
		if !Incomplete(pool[s].Value) {
			continue
		}
		used := map[int]bool{s: true}
		seq := []int{s}
		if rec := extend(pool, window, bytes.TrimSpace(pool[s].Value), pool[s].Time, used, &seq, 0); rec != nil {
			return rec, seq
		}
	}
	return nil, nil
}

const maxPieces = 64

func extend(pool []Piece, window time.Duration, cur []byte, t time.Time, used map[int]bool, seq *[]int, depth int) []byte {
	if depth >= maxPieces {
		return nil
	}
	for i, p := range pool {
		if used[i] || p.Time.Sub(t) > window || t.Sub(p.Time) > window || !inOrder(pool, *seq, i) {
			continue
		}
		joined := make([]byte, 0, len(cur)+1+len(p.Value))
		joined = append(append(append(joined, cur...), '\n'), p.Value...)
		switch {
		case json.Valid(joined):
			*seq = append(*seq, i)
			return joined
		case Incomplete(joined):
			used[i] = true
			*seq = append(*seq, i)
			if rec := extend(pool, window, joined, t, used, seq, depth+1); rec != nil {
				return rec
			}
			used[i] = false
			*seq = (*seq)[:len(*seq)-1]
		}
	}
	return nil
}

// inOrder reports whether pool[i] may follow the pieces of seq: pieces of
// one partition are joined in offset order.
func inOrder(pool []Piece, seq []int, i int) bool {
	for _, j := range seq {
		if pool[j].Partition == pool[i].Partition && pool[j].Offset > pool[i].Offset {
			return false
		}
	}
	return true
}
