from unitrl.cli import main

main()
