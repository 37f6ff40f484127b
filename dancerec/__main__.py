from dancerec.cli.main import main

main()
