package fcgi

// Validate reports what Listen would refuse in o before making a socket:
// a SocketGroup that names no group of this system. syncserver's start-up
// validation (and so its check command) asks it.
func (o Options) Validate() error {
	if o.SocketGroup != "" {
		if _, err := lookupGroup(o.SocketGroup); err != nil {
			return err
		}
	}
	return nil
}
