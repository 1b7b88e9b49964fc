package sqlite

import "context"

// ExecScript runs a script of statements without parameters in the
// writer's transaction.
func ExecScript(ctx context.Context, d *Driver, script string) error {
	return d.write(ctx, func(ctx context.Context) error {
		_, err := d.conn.ExecContext(ctx, script)
		return err
	})
}

// Path returns the database file's path.
func Path(d *Driver) string { return d.path }
