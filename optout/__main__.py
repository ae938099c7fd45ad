from optout.entry import main

main()
