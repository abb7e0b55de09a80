//go:build !linux

package api

import "net"

// cancelWhenClientGoes watches nothing here: a query whose client went
// away runs until it ends or meets the query timeout.
func cancelWhenClientGoes(net.Conn, func()) (stop func()) { return func() {} }
