package mysql

import "database/sql/driver"

// WithConnector returns opts whose servers' connectors are wrapped by
// wrap, for tests that inject faults between the Store and the driver.
func WithConnector(opts Options, wrap func(driver.Connector) driver.Connector) Options {
	opts.wrap = wrap
	return opts
}
