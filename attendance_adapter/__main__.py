from attendance_adapter.bootstrap import main

raise SystemExit(main())
