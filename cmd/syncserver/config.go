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
	cfg, notices, err := config.Load(path, m.Getenv)
	if err == nil && m.Environ != nil {
		notices = append(notices, config.MisspeltEnv(m.Environ())...)
	}
	return cfg, notices, err
}
