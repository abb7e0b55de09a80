// Package storetest gives tests a fresh, empty PostgreSQL database on the
// server named by EVENTOPS_TEST_DATABASE_URL (default: the local server at
// 127.0.0.1:5432, as user postgres) and drops it when the test ends. A test
// that cannot reach the server fails: it never skips, except under -short
// (make check), which leaves out every test that needs PostgreSQL.
package storetest
