package main

import (
	"errors"
	"io/fs"
	"os"

	"syncserver/internal/config"
)

// loadConfig reads the configuration file, then the environment. When no
// file was asked for (no -config, no SYNCSERVER_CONFIG) and the default
// ./syncserver.ini does not exist, the SYNCSERVER_* variables and the
// defaults are the whole configuration: a container needs no file. A file
// that was asked for must exist.
func (m *Main) loadConfig() (*config.Config, []config.Notice, error) {
	path := m.ConfigPath
	if m.ConfigOptional {
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			path = ""
		}
	}
	return config.Load(path, m.Getenv)
}
