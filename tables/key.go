package tables

import (
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
)

// KeySep separates tenant and host in a source key. Neither may contain it.
const KeySep = "/"

// ErrBadKey is returned for a key that is not tenant/host.
var ErrBadKey = errors.New("source key is not tenant/host")

// SourceKey is the key of every co-partitioned topic and table.
func SourceKey(tenant, host string) string { return tenant + KeySep + host }

// SplitKey parses a source key.
func SplitKey(key string) (tenant, host string, err error) {
	tenant, host, ok := strings.Cut(key, KeySep)
	if !ok || tenant == "" || host == "" || strings.Contains(host, KeySep) {
		return "", "", fmt.Errorf("%w: %q", ErrBadKey, key)
	}
	return tenant, host, nil
}

// KeyHash is the key hash of the project's one partitioning scheme: 32-bit
// FNV-1a, goka's default hasher.
func KeyHash(b []byte) uint32 {
	h := fnv.New32a()
	_, _ = h.Write(b)
	return h.Sum32()
}

// Partition returns the partition of key among n partitions, exactly as goka
// (sarama's hash partitioner) and kcat with fnv1a_random place it.
func Partition(key string, n int32) int32 {
	p := int32(KeyHash([]byte(key))) % n
	if p < 0 {
		p = -p
	}
	return p
}

// KcatPartitionerFlag is what a kcat user adds to write keyed records to a
// co-partitioned topic.
const KcatPartitionerFlag = "-X topic.partitioner=fnv1a_random"
