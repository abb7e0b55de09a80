// Package static is the EventOps dashboard: plain HTML, CSS and JavaScript
// embedded into the binary and served at / by the API. It needs no build
// step; third-party scripts are vendored under vendor/ with their licences.
package static
