from consistency_controller.main import main

main()
