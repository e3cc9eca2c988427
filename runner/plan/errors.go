package plan

// ScriptError is an error in the user's script: a bad value, a typo, a
// failed load. Its message starts with file:line:col.
type ScriptError struct{ Msg string }

func (e *ScriptError) Error() string { return e.Msg }

// UsageError is a command-line mistake found while evaluating: a --set
// that names nothing or has a value of the wrong type.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }
