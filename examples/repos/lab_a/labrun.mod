# Lab A's experiments use the caliper module at a released tag. The path
# is relative to this folder for the example; a real lab writes the URL it
# clones from, such as "https://git.example.org/lab-b/caliper.git".
module(name = "lab_a")

require(name = "caliper", git = "../caliper", version = "v1.0.0")
