"""Where things are kept: files on any Beam FileSystem, atomic publication, the nightly state folder and its
lock, the models pointer, the reviews database, exported models' metadata, Prometheus textfiles and figures
drawn to files. Rules (pipelines/rules) decide; storage keeps."""
