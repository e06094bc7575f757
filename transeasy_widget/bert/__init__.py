"""TransEasy's module names, for its users: ``from transeasy_widget.bert import bertscope, bertplus_hier``."""
