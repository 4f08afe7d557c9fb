"""Other tools' data formats in and out: APPS, LiveCodeBench and CodeContests rows become unitrl problems
(`unitrl import`), and problems and samples become verl training parquet, evalplus sample files and
LiveCodeBench generation files (`unitrl export`). `apps` parses the test layouts (APPS `input_output`,
LiveCodeBench's compressed private tests, CodeContests' test lists), `importers` turns benchmark rows
into problems, `export` writes the other tools' files, `cli` holds the two commands.
"""
