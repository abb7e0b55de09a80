package features

import (
	"encoding/binary"
	"math"
	"os"
	"testing"
	"time"
)

var fuzzConfigs = []Config{
	{},
	{Counter: true},
	{Windows: []time.Duration{3 * time.Second, 6 * time.Second}, Lateness: time.Second, HalfLives: []time.Duration{time.Second}},
}

// opsSeries turns fuzz bytes into a stream of Adds: each op is 11 bytes,
// a ts step (int16, ms*16, may go back), a value kind and 8 value bytes.
func opsSeries(cfg Config, ops []byte, s *Series) {
	ts := baseTs
	for len(ops) >= 11 {
		step := int64(int16(binary.LittleEndian.Uint16(ops))) * 16
		ts += step
		bits := binary.LittleEndian.Uint64(ops[3:])
		var v float64
		switch ops[2] % 4 {
		case 0:
			v = math.Float64frombits(bits) // anything, NaN and Inf included
		case 1:
			v = float64(int64(bits) % 1000) // small integers
		case 2:
			v = float64(int64(bits)%100000) / 100 // two decimals
		default:
			v = float64(bits%1000) * 1e298 // huge
		}
		s.Add(ts, v)
		ops = ops[11:]
	}
}

func exercise(s *Series) {
	for _, w := range s.cfg.Windows {
		s.Window(w)
	}
	s.EWMA()
	s.Snapshot(baseTs)
	for _, name := range StatNames() {
		s.Stat(name, s.cfg.Windows[0], baseTs)
	}
}

func seedCorpus(f *testing.F) {
	for i, cfg := range fuzzConfigs {
		s := NewSeries(cfg)
		for j := int64(0); j < 400; j++ {
			s.Add(baseTs+j*37*(int64(i)+1), float64(j%50)+0.25)
		}
		f.Add(byte(i), s.AppendBinary(nil))
		// Sparse: raw buckets in every level.
		s = NewSeries(cfg)
		for j := int64(0); j < 100; j++ {
			s.Add(baseTs+j*41_000, float64(j*j%97)-40)
		}
		f.Add(byte(i), s.AppendBinary(nil))
		// Very dense, some late: time sets as lists and as bitmaps.
		s = NewSeries(cfg)
		for j := int64(0); j < 3000; j++ {
			s.Add(baseTs+j*3-j%5*7, float64(j%13))
		}
		f.Add(byte(i), s.AppendBinary(nil))
	}
	// The version 1 layout, without time sets.
	if v1, err := os.ReadFile("testdata/series-v1.bin"); err == nil {
		f.Add(byte(0), v1)
	}
	f.Add(byte(0), []byte{})
	f.Add(byte(1), []byte{1, 0, 0, 0})
}

// FuzzDecode: arbitrary bytes decode to an error or to a series that can be
// used, and re-encodes to bytes that decode to the same encoding.
func FuzzDecode(f *testing.F) {
	seedCorpus(f)
	f.Fuzz(func(t *testing.T, which byte, b []byte) {
		cfg := fuzzConfigs[int(which)%len(fuzzConfigs)]
		s, rest, err := DecodeSeries(cfg, b)
		if err != nil {
			return
		}
		if len(rest) > len(b) {
			t.Fatal("rest longer than input")
		}
		enc := s.AppendBinary(nil)
		s2, rest2, err := DecodeSeries(cfg, enc)
		if err != nil || len(rest2) != 0 {
			t.Fatalf("re-decode: %v", err)
		}
		if string(s2.AppendBinary(nil)) != string(enc) {
			t.Fatal("re-encoding differs")
		}
		checkInvariants(t, s)
		exercise(s)
		opsSeries(cfg, b, s)
		checkInvariants(t, s)
		exercise(s)
	})
}

// FuzzRoundTrip: for any stream, decode(encode(s)) encodes identically and
// gives the same features, and stays identical under further Adds.
func FuzzRoundTrip(f *testing.F) {
	f.Add(byte(0), []byte("\x10\x27\x01abcdefgh\x10\x27\x02abcdefgh\xf0\xd8\x01abcdefgh"))
	f.Add(byte(1), make([]byte, 11*40))
	f.Fuzz(func(t *testing.T, which byte, ops []byte) {
		cfg := fuzzConfigs[int(which)%len(fuzzConfigs)]
		s := NewSeries(cfg)
		half := len(ops) / 22 * 11
		opsSeries(cfg, ops[:half], s)
		enc := s.AppendBinary(nil)
		d, rest, err := DecodeSeries(cfg, enc)
		if err != nil || len(rest) != 0 {
			t.Fatalf("decode own encoding: %v", err)
		}
		check := func() {
			a, b := s.AppendBinary(nil), d.AppendBinary(nil)
			if string(a) != string(b) {
				t.Fatal("encodings differ")
			}
			for _, w := range cfg.withDefaults().Windows {
				x, _ := s.Window(w)
				y, _ := d.Window(w)
				if !sameStats(x, y) {
					t.Fatalf("window %s differs:\n%+v\n%+v", w, x, y)
				}
			}
		}
		check()
		checkInvariants(t, d)
		opsSeries(cfg, ops[half:], s)
		opsSeries(cfg, ops[half:], d)
		check()
		checkInvariants(t, s)
	})
}
