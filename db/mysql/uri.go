package mysql

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// parseURI turns a legacy sqluri into the driver's configuration:
// mysql://, pymysql://, mysql+pymysql://, mysql+mysqldb://, mariadb://…,
// user:password@host:port/database, with the query parameters PyMySQL and
// MySQLdb took through SQLAlchemy. notes lists parameters that are
// accepted but have no effect, for one log line each.
//
// Several hosts may be listed, host1:port1,host2:port2 (hosts.go);
// addrs then holds each as host:port, and cfg.Addr is the first.
//
// The connection character set is always utf8mb4, whatever charset= says:
// the server converts to each column's character set, so the legacy
// latin1 tables read and write as before, and new utf8mb4 tables get
// every character.
func parseURI(raw string) (cfg *mysql.Config, addrs, notes []string, err error) {
	cfg, addrs, notes, err = parseURIHosts(raw)
	if err == nil && len(addrs) > 0 && cfg.Net != "tcp" {
		err = errors.New("sqluri lists several hosts and a unix_socket: use one or the other")
	}
	if err != nil {
		return nil, nil, nil, err
	}
	return cfg, addrs, notes, nil
}

func parseURIHosts(raw string) (cfg *mysql.Config, addrs, notes []string, err error) {
	scheme, _, ok := strings.Cut(raw, "://")
	base, _, _ := strings.Cut(strings.ToLower(scheme), "+")
	if !ok || (base != "mysql" && base != "pymysql" && base != "mariadb") {
		return nil, nil, nil, fmt.Errorf("not a MySQL URL: want mysql://user:password@host/database")
	}
	raw, hosts, err := splitHosts(raw)
	if err != nil {
		return nil, nil, nil, err
	}
	for _, h := range hosts {
		a, err := hostAddr(h)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("sqluri: %v", err)
		}
		addrs = append(addrs, a)
	}
	u, err := url.Parse("mysql" + raw[len(scheme):])
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, nil, nil, fmt.Errorf("not a valid MySQL URL: %v", err)
	}
	cfg = mysql.NewConfig()
	cfg.Net, cfg.Addr = "tcp", "localhost:3306"
	if u.User != nil {
		cfg.User = u.User.Username()
		cfg.Passwd, _ = u.User.Password()
	}
	if h := u.Hostname(); h != "" {
		port := u.Port()
		if port == "" {
			port = "3306"
		}
		cfg.Addr = net.JoinHostPort(h, port)
	}
	cfg.DBName = strings.TrimPrefix(u.Path, "/")
	if cfg.DBName == "" || strings.Contains(cfg.DBName, "/") {
		return nil, nil, nil, fmt.Errorf("the MySQL URL names no database: want mysql://user:password@host/database")
	}

	tlsMode := ""
	var ca, cert, key string
	verifyHost, verifyCert := true, true
	q := u.Query()
	for _, name := range slices.Sorted(maps.Keys(q)) {
		v := q.Get(name)
		var perr error
		switch name {
		case "charset", "use_unicode", "binary_prefix", "autocommit", "client_flag", "local_infile", "program_name":
			notes = append(notes, fmt.Sprintf("sqluri parameter %s=%s is ignored: connections are always utf8mb4", name, v))
		case "unix_socket":
			cfg.Net, cfg.Addr = "unix", v
		case "connect_timeout":
			cfg.Timeout, perr = seconds(v)
		case "read_timeout":
			cfg.ReadTimeout, perr = seconds(v)
		case "write_timeout":
			cfg.WriteTimeout, perr = seconds(v)
		case "ssl", "tls":
			tlsMode = strings.ToLower(v)
		case "ssl_ca":
			ca = v
		case "ssl_cert":
			cert = v
		case "ssl_key":
			key = v
		case "ssl_check_hostname":
			verifyHost, perr = strconv.ParseBool(v)
		case "ssl_verify_cert":
			verifyCert, perr = strconv.ParseBool(v)
		case "ssl_disabled":
			var off bool
			if off, perr = strconv.ParseBool(v); off {
				tlsMode = "false"
			}
		default:
			notes = append(notes, fmt.Sprintf("sqluri parameter %s is unknown and ignored", name))
		}
		if perr != nil {
			return nil, nil, nil, fmt.Errorf("sqluri parameter %s=%q: %v", name, v, perr)
		}
	}
	if err := setTLS(cfg, tlsMode, ca, cert, key, verifyHost, verifyCert); err != nil {
		return nil, nil, nil, err
	}
	return cfg, addrs, notes, nil
}

// setTLS configures TLS from tls=/ssl= (true, false, skip-verify or
// preferred, the driver's words) and PyMySQL's ssl_* parameters, any of
// which turns TLS on.
func setTLS(cfg *mysql.Config, mode, ca, cert, key string, verifyHost, verifyCert bool) error {
	switch mode {
	case "", "true", "1", "false", "0", "skip-verify", "preferred":
	default:
		return fmt.Errorf("sqluri parameter tls=%q: want true, false, skip-verify or preferred", mode)
	}
	if mode == "false" || mode == "0" {
		return nil
	}
	if mode == "skip-verify" || mode == "preferred" {
		cfg.TLSConfig = mode
		return nil
	}
	if mode == "" && ca == "" && cert == "" && key == "" {
		return nil
	}
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		host = cfg.Addr
	}
	t := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return fmt.Errorf("sqluri ssl_ca: %w", err)
		}
		t.RootCAs = x509.NewCertPool()
		if !t.RootCAs.AppendCertsFromPEM(pem) {
			return fmt.Errorf("sqluri ssl_ca %s: no PEM certificate in it", ca)
		}
	}
	if cert != "" || key != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return fmt.Errorf("sqluri ssl_cert/ssl_key: %w", err)
		}
		t.Certificates = []tls.Certificate{pair}
	}
	switch {
	case !verifyCert:
		t.InsecureSkipVerify = true
	case !verifyHost:
		// Check the chain, not the name.
		t.InsecureSkipVerify = true
		roots := t.RootCAs
		t.VerifyPeerCertificate = func(certs [][]byte, _ [][]*x509.Certificate) error {
			opts := x509.VerifyOptions{Roots: roots, Intermediates: x509.NewCertPool()}
			var leaf *x509.Certificate
			for i, der := range certs {
				c, err := x509.ParseCertificate(der)
				if err != nil {
					return err
				}
				if i == 0 {
					leaf = c
				} else {
					opts.Intermediates.AddCert(c)
				}
			}
			if leaf == nil {
				return errors.New("no server certificate")
			}
			_, err := leaf.Verify(opts)
			return err
		}
	}
	cfg.TLS = t
	return nil
}

// seconds reads a timeout in seconds, fractions allowed.
func seconds(v string) (time.Duration, error) {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 {
		return 0, errors.New("want a number of seconds")
	}
	return time.Duration(f * float64(time.Second)), nil
}
