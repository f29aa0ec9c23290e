package reports

// save returns a function that saves a figure, returned with its error by
// a figure function, at path, and gives the number of values it left out:
// save(path)(DLogAmpFigure(ms)).
func save(path string) func(*Figure, error) (int, error) {
	return func(f *Figure, err error) (int, error) {
		if err != nil {
			return 0, err
		}
		return f.Skipped, f.Save(path)
	}
}

// saved is save for the figures whose left-out count the test ignores.
func saved(path string) func(*Figure, error) error {
	return func(f *Figure, err error) error {
		_, err = save(path)(f, err)
		return err
	}
}
