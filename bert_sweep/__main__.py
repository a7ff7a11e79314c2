from bert_sweep.cli import main

main()
